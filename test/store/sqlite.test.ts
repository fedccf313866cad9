import { describeStoreConformance } from './conformance.js';
import { describeServerStoreConformance } from './server-conformance.js';
import { describeSettingsConformance } from './settings-conformance.js';

describeStoreConformance('sqlite');
describeServerStoreConformance('sqlite');
describeSettingsConformance('sqlite');
