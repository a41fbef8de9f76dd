// Runs the CLI from src/ (no build needed): node test/helpers/ms-cli.mjs <args>
const { main } = await import('../../src/cli/main.ts');
process.exitCode = await main(process.argv);
