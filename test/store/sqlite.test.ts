import { describeStoreConformance } from './conformance.js';
import { describeServerStoreConformance } from './server-conformance.js';

describeStoreConformance('sqlite');
describeServerStoreConformance('sqlite');
