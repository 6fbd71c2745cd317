/** The `wireroom` command line: `wireroom <command> [flags]`. Each command lives in ./commands/<name>.ts. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as echo from './commands/echo.js';

interface Command {
  help: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  echo: { summary: 'run an echo server (conformance and benchmark target)', load: async () => echo },
};

/** This file runs as CommonJS from dist/cjs/cli/ (the published build): the package root is three levels up. */
function version(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '../../../package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return [
    'Usage: wireroom <command> [flags]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `wireroom <command> --help` for the flags of a command.',
    '  -h, --help     show this help',
    '  -v, --version  print the version',
  ].join('\n');
}

/** Runs the CLI; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    console.log(usage());
    return 0;
  }
  if (name === '-v' || name === '--version') {
    console.log(version());
    return 0;
  }
  const command = COMMANDS[name];
  if (command === undefined && name === 'chat') {
    console.error("wireroom: the chat server is its own package now: `npx wireroom-chat` (npm install wireroom-chat)");
    return 2;
  }
  if (command === undefined) {
    console.error(`wireroom: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const module = await command.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(module.help);
    return 0;
  }
  return module.run(rest);
}
