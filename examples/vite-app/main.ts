// A page that reads a digit from a picture. The model bundle is a static file (public/model.bundle: copy
// one from a digitbench report's models/ folder); the runtime fetches, checks and loads it in the page.
import { decodeImage, loadModel, type DigitModel } from '@digitbench/runtime';

const MODEL_URL = '/model.bundle';

const $ = (id: string) => document.getElementById(id)!;

async function main(): Promise<void> {
  const model: DigitModel = await loadModel(MODEL_URL);
  $('model').textContent = `${model.header.plugin.name} (${model.features.join(' → ') || 'raw pixels'}), test accuracy ${(model.header.run.testAccuracy * 100).toFixed(2)}%`;
  ($('file') as HTMLInputElement).addEventListener('change', async (event) => {
    const file = (event.target as HTMLInputElement).files?.[0];
    if (!file) return;
    try {
      const [p] = await model.predict(await decodeImage(file, file.name));
      $('answer').textContent = `${p!.name}  (${p!.top?.map((t) => `${t.name} ${t.score.toFixed(2)}`).join(', ')})`;
    } catch (e) {
      $('answer').textContent = e instanceof Error ? e.message : String(e);
    }
  });
}

main().catch((e) => ($('model').textContent = e instanceof Error ? e.message : String(e)));
