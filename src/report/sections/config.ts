/** The experiment config, as JSON. */

export function configSection(config: unknown): string {
  const lines = ['## Configuration', ''];
  if (config === undefined) lines.push('No experiment config was given to the report.');
  else lines.push('```json', JSON.stringify(config, null, 2), '```');
  return lines.join('\n');
}
