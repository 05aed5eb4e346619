import { describe, expect, it } from "vitest";
import { PROBLEMS, problem, problemStatus, renderProblem, type ProblemCode } from "../../../src/domain/problems.ts";

const codes = Object.keys(PROBLEMS) as ProblemCode[];

describe("renderProblem", () => {
  it.each(codes)("renders %s as RFC 9457 JSON", (code) => {
    const rendered: unknown = JSON.parse(renderProblem(problem(code, `detail for ${code}`)));
    expect(rendered).toStrictEqual({
      type: `urn:onceledger:problem:${code}`,
      title: PROBLEMS[code].title,
      status: PROBLEMS[code].status,
      detail: `detail for ${code}`,
      code,
    });
    expect(problemStatus(code)).toBe(PROBLEMS[code].status);
  });

  it("merges extensions into the top level", () => {
    const errors = [{ field: "amount", message: "too big" }];
    const rendered: unknown = JSON.parse(renderProblem(problem("invalid_request", "bad", { errors, hint: 3 })));
    expect(rendered).toStrictEqual({
      type: "urn:onceledger:problem:invalid_request",
      title: PROBLEMS.invalid_request.title,
      status: 400,
      detail: "bad",
      code: "invalid_request",
      errors,
      hint: 3,
    });
  });

  it("gives every code an error status and a title", () => {
    for (const code of codes) {
      expect(PROBLEMS[code].status).toBeGreaterThanOrEqual(400);
      expect(PROBLEMS[code].status).toBeLessThan(600);
      expect(PROBLEMS[code].title).not.toBe("");
    }
  });
});
