// The replay gate for ts.Tally: replays exported histories (JSON, as
// `temporal workflow show --output json` or Go's protojson write them) on
// this build's workflow code and exits non-zero if any is not deterministic.
//
//   node lib/replay.js history1.json [history2.json ...]
import { readFileSync } from 'node:fs';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';

async function main(files: string[]): Promise<number> {
  if (files.length === 0) {
    console.error('usage: node lib/replay.js HISTORY.json...');
    return 2;
  }
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const histories = files.map((f) => ({ workflowId: f, history: JSON.parse(readFileSync(f, 'utf8')) }));
  let failed = 0;
  for await (const r of Worker.runReplayHistories({ workflowsPath: require.resolve('./workflows') }, histories)) {
    if (r.error) {
      failed++;
      console.log(`FAIL ${r.workflowId}\n     ${r.error}`);
    } else {
      console.log(`ok   ${r.workflowId}`);
    }
  }
  console.log(`${files.length} replayed, ${failed} failed`);
  return failed > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
