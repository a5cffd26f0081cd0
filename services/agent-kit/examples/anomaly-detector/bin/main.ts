/**
 * The anomaly detector's entry point (its image's CMD): features or Orion notifications in, the
 * anomaly attribute out; exits 2 on a bad environment or config.
 */
import { runAgent } from '../../../src/index.js';
import { anomalyDetector } from '../src/detector.js';

runAgent(anomalyDetector);
