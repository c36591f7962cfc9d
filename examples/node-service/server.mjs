// A digit-reading service: POST an image (PNG or JPEG, any size) to /predict and get the digit back.
//
//   MODEL=path/to/model.bundle PORT=8080 node server.mjs
//   curl --data-binary @seven.png http://localhost:8080/predict
//   → {"label":7,"name":"7","top":[{"label":7,"name":"7","score":0.98},…]}
//
// The bundle carries its own feature pipeline, so the service only decodes and predicts. A CNN bundle
// also needs `npm install @tensorflow/tfjs-core @tensorflow/tfjs-layers @tensorflow/tfjs-backend-wasm`.
// No top-level await, so esbuild can also bundle this file into one CommonJS file that runs anywhere:
//   npx esbuild server.mjs --bundle --platform=node --format=cjs --outfile=service.cjs
import { createServer } from 'node:http';
import { decodeImage, loadModel } from '@digitbench/runtime';

const MAX_UPLOAD = 10 * 1024 * 1024;

function serve(model) {
  const server = createServer(async (req, res) => {
    const send = (status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url !== '/predict') return send(404, { error: 'POST an image to /predict' });
    if (req.method !== 'POST') return send(405, { error: 'POST an image to /predict' });
    const chunks = [];
    let size = 0;
    for await (const chunk of req) {
      size += chunk.length;
      if (size > MAX_UPLOAD) return send(413, { error: `the image is over ${MAX_UPLOAD} bytes` });
      chunks.push(chunk);
    }
    try {
      const image = await decodeImage(new Uint8Array(Buffer.concat(chunks)), 'the upload');
      const [prediction] = await model.predict(image);
      send(200, prediction);
    } catch (e) {
      send(400, { error: e instanceof Error ? e.message : String(e) });
    }
  });
  server.listen(Number(process.env.PORT ?? 8080), () => {
    const { port } = server.address();
    console.log(`digit service on http://localhost:${port}/predict (${model.header.plugin.name}, ${model.features.join(' → ') || 'raw pixels'})`);
  });
}

loadModel(process.env.MODEL ?? 'model.bundle').then(serve, (e) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
