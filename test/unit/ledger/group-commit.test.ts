import { describe, expect, it } from "vitest";
import { GroupCommit } from "../../../src/ledger/group-commit.ts";

/** An item answered with its own type: a word's length, or the words of a sentence. */
type Item =
  | {
      readonly kind: "word";
      readonly text: string;
      readonly resolve: (length: number) => void;
      readonly reject: (reason: unknown) => void;
    }
  | {
      readonly kind: "sentence";
      readonly text: string;
      readonly resolve: (words: readonly string[]) => void;
      readonly reject: (reason: unknown) => void;
    };

function commit(options: { maxGroupWeight?: number; prepare?: () => Promise<void>; fail?: string } = {}) {
  const groups: string[][] = [];
  const group = new GroupCommit<Item>({
    prepare: options.prepare ?? (() => Promise.resolve()),
    decideGroup: (items) => {
      groups.push(items.map((item) => item.text));
      if (items.some((item) => item.text === options.fail)) throw new Error(`cannot decide ${options.fail}`);
      for (const item of items) {
        if (item.kind === "word") item.resolve(item.text.length);
        else item.resolve(item.text.split(" "));
      }
    },
    weight: (item) => (item.kind === "sentence" ? item.text.split(" ").length : 1),
    maxGroupWeight: options.maxGroupWeight ?? 100,
  });
  const word = (text: string) =>
    new Promise<number>((resolve, reject) => group.submit({ kind: "word", text, resolve, reject }));
  const sentence = (text: string) =>
    new Promise<readonly string[]>((resolve, reject) => group.submit({ kind: "sentence", text, resolve, reject }));
  return { groups, word, sentence };
}

describe("group commit", () => {
  it("decides the items submitted together as one group, each answered with its own kind's result", async () => {
    const { groups, word, sentence } = commit();
    const answers = await Promise.all([word("abc"), sentence("one two"), word("de")]);
    expect(answers).toEqual([3, ["one", "two"], 2]);
    expect(groups).toEqual([["abc", "one two", "de"]]);
  });

  it("takes items until their weight reaches the limit, at least one, in the order they came", async () => {
    const { groups, word, sentence } = commit({ maxGroupWeight: 3 });
    await Promise.all([sentence("a b c d e"), word("f"), word("g"), sentence("h i"), word("j")]);
    expect(groups).toEqual([["a b c d e"], ["f", "g", "h i"], ["j"]]);
  });

  it("refuses every waiting item when preparing a group fails, and goes on with later ones", async () => {
    let fail = true;
    const { groups, word } = commit({
      prepare: () => (fail ? Promise.reject(new Error("no alarm")) : Promise.resolve()),
    });
    const refused = await Promise.allSettled([word("a"), word("b")]);
    expect(refused.map((result) => result.status)).toEqual(["rejected", "rejected"]);
    fail = false;
    expect(await word("c")).toBe(1);
    expect(groups).toEqual([["c"]]);
  });

  it("refuses a group whose decider throws, so that none is left waiting", async () => {
    const { word } = commit({ fail: "b" });
    const results = await Promise.allSettled([word("a"), word("b")]);
    expect(results.map((result) => result.status)).toEqual(["rejected", "rejected"]);
    expect(await word("c")).toBe(1);
  });
});
