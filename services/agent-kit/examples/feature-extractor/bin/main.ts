/**
 * The feature extractor's entry point (its image's CMD): the fleet's environment in, features
 * out to DOWNSTREAM_<NAME>_URL; exits 2 on a bad environment or config.
 */
import { runAgent } from '../../../src/index.js';
import { featureExtractor } from '../src/extractor.js';

runAgent(featureExtractor);
