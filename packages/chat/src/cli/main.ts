/** The `wireroom-chat` command line: runs the chat server (./commands/chat.ts) with its flags. */
import { createRequire } from 'node:module';
import { help, run } from './commands/chat.js';

/** The package version, from dist/cli (the build) or src/cli (tsx) alike. */
function version(): string {
  return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
}

/** Runs the CLI; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help') || argv[0] === 'help') {
    console.log(help);
    return 0;
  }
  if (argv.includes('-v') || argv.includes('--version')) {
    console.log(version());
    return 0;
  }
  return run(argv);
}
