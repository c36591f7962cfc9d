/** @digitbench/runtime, browser entry: no Node built-in anywhere in its import graph. */
export {};
