/**
 * The workbench's image input is the runtime's: `decodeImage` and `readInputs` of @digitbench/runtime
 * (packages/runtime/src/input/decode.node.ts: PNG by pngjs, JPEG by jpeg-js, EXIF orientation, caps before
 * reading and decoding, one-line errors), re-exported here for `predict`, `evaluate`, the image-folder
 * loader and the tests.
 */
export {
  decodeImage,
  readInputs,
  DEFAULT_MAX_IMAGE_BYTES,
  DEFAULT_MAX_PIXELS,
  type DecodedImage,
  type DecodeOptions,
  type InputImage,
  type ReadInputsOptions,
  type Shape,
} from '@digitbench/runtime/internal';
