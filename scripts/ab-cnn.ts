/**
 * A/B of CNN training speed in one process (dev tool, not a bench):
 *   node --import ./bin/register.js scripts/ab-cnn.ts ARCH TRAIN_IMAGES THREADS,THREADS,... [rounds=1] [epochs=1] [test=2000]
 * Fits on a seeded MNIST subset, alternating the thread counts; prints seconds per fit (worker start
 * included), the CPU seconds of all threads, seconds per 60k-image epoch extrapolated, and test accuracy on that many test images.
 */
import { cnn } from '../src/classifiers/cnn.ts';
import { parseParams } from '../src/classifiers/plugin.ts';
import { mnistSubset } from '../test/helpers/mnist.ts';

const [arch = 'lenet', train = '2560', list = '1,2', roundsArg = '1', epochsArg = '1', test = '2000'] = process.argv.slice(2);
const d = await mnistSubset(Number(train), Number(test), 1);
const silent = { info() {}, warn() {} };
for (let round = 0; round < Number(roundsArg); round++) {
  for (const t of list.split(',').map(Number)) {
    const p = parseParams(cnn, { architecture: arch, epochs: Number(epochsArg), patience: 0, threads: t });
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const m = await cnn.create(p, { seed: 1, log: silent, imageShape: [28, 28] }).fit(d.xTrain, d.yTrain);
    const s = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / 1e6;
    const pred = await m.predict(d.xTest);
    let ok = 0;
    for (let i = 0; i < pred.length; i++) if (pred[i] === d.yTest[i]) ok++;
    m.dispose();
    const perEpoch = (s / Number(epochsArg)) * (60000 / Number(train));
    console.log(`${arch} threads ${t}: ${s.toFixed(2)} s for ${epochsArg} epoch(s) of ${train} → ${perEpoch.toFixed(1)} s per 60k epoch; CPU ${cpu.toFixed(2)} s (all threads); test acc ${(ok / pred.length).toFixed(4)}`);
  }
}
