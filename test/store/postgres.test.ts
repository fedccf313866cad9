import { describeStoreConformance } from './conformance.js';
import { describeServerStoreConformance } from './server-conformance.js';

describeStoreConformance('postgres');
describeServerStoreConformance('postgres');
