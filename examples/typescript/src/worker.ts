// The TypeScript worker: runs ts.Tally on its own task queue. Sluice's
// bridge starts and signals the workflows (a route naming workflow_type
// ts.Tally and this task queue); the Go `sluice worker` serves the
// milestone activity on its task queue.
//
// Settings (environment):
//   TEMPORAL_ADDRESS      host:port of the Temporal frontend (127.0.0.1:7233)
//   TEMPORAL_NAMESPACE    namespace (default)
//   TASK_QUEUE            this worker's task queue (sluice-ts)
//   MILESTONE_TASK_QUEUE  where sluice worker serves sluice.PublishMilestones (sluice-entities)
//   MAX_SIGNALS_PER_RUN   Continue-As-New after this many signals per run (2000)
import { NativeConnection, Runtime, DefaultLogger, Worker } from '@temporalio/worker';
import { createActivities } from './activities';
import { Config, WORKFLOW_TYPE } from './tally';

function env(name: string, def: string): string {
  const v = process.env[name];
  return v === undefined || v === '' ? def : v;
}

async function main(): Promise<void> {
  const address = env('TEMPORAL_ADDRESS', '127.0.0.1:7233');
  const namespace = env('TEMPORAL_NAMESPACE', 'default');
  const taskQueue = env('TASK_QUEUE', 'sluice-ts');
  const max = Number(env('MAX_SIGNALS_PER_RUN', '2000'));
  if (!Number.isSafeInteger(max) || max < 1 || max > 9000) {
    throw new Error(`MAX_SIGNALS_PER_RUN=${process.env.MAX_SIGNALS_PER_RUN}: want an integer from 1 to 9000 (Temporal refuses a run past 10,000 signals)`);
  }
  const config: Config = { maxSignalsPerRun: max, milestoneTaskQueue: env('MILESTONE_TASK_QUEUE', 'sluice-entities') };
  Runtime.install({ logger: new DefaultLogger((env('LOG_LEVEL', 'WARN') as 'WARN')) });

  const connection = await NativeConnection.connect({ address });
  try {
    const worker = await Worker.create({
      connection,
      namespace,
      taskQueue,
      // The SDK bundles the workflow code (webpack, offline) at start.
      workflowsPath: require.resolve('./workflows'),
      activities: createActivities(config),
    });
    console.log(`sluice-ts worker: ${WORKFLOW_TYPE} on task queue ${taskQueue} (namespace ${namespace}, ${address}); milestones via ${config.milestoneTaskQueue}; Continue-As-New every ${max} signals`);
    // Runs until SIGINT or SIGTERM, then finishes its tasks and returns.
    await worker.run();
  } finally {
    await connection.close();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
