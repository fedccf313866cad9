import { describeStoreConformance } from './conformance.js';
import { describeServerStoreConformance } from './server-conformance.js';
import { describeSettingsConformance } from './settings-conformance.js';

describeStoreConformance('postgres');
describeServerStoreConformance('postgres');
describeSettingsConformance('postgres');
