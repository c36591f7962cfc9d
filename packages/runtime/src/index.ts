/** @digitbench/runtime, Node entry. */
export {};
