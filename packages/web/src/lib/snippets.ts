/** TypeScript that fetches this checkpoint with the SDK, as a user would paste it. */
export function sdkSnippet(master: string, trialId: number, uuid: string): string {
  return [
    "import { TrialReference } from '@determined-ts/sdk';",
    '',
    `const trial = new TrialReference(${trialId}, { master: '${master}' });`,
    `const checkpoint = await trial.selectCheckpoint({ uuid: '${uuid}' });`,
    'const dir = await checkpoint.download();',
  ].join('\n');
}

/** The shell commands that download this checkpoint with `det`. */
export function cliSnippet(master: string, uuid: string): string {
  return [`export DET_MASTER=${master}`, `det checkpoint download ${uuid}`].join('\n');
}
