// Vite's module types for tests: `?raw` imports (a file's text) and import.meta.glob,
// for tests that check docs, config and the source's layering against the code.
/// <reference types="vite/client" />
