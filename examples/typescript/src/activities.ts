// Activities this worker serves itself. sluice.PublishMilestones is not
// here: the Go `sluice worker` serves it on its own task queue.
import type { Config } from './tally';

export interface Activities {
  /** The worker's settings, read once by an entity's first run (a local activity). */
  tallyConfig(): Promise<Config>;
}

export function createActivities(config: Config): Activities {
  return {
    async tallyConfig() {
      return config;
    },
  };
}
