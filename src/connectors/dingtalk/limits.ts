import type { PlatformLimits } from '../../directory/limits.js';

/** DingTalk's limits on directory data (API reference §10). */
export const DINGTALK_LIMITS: PlatformLimits = {
  platform: 'dingtalk',
  userid: { pattern: null, maxBytes: 64, describe: '1-64 characters' },
  userNameMaxChars: 80,
  aliasMaxChars: 80,
  positionMaxChars: 200,
  telephoneMaxChars: 50,
  emailMaxBytes: 50,
  addressMaxChars: 100,
  employeeNoMaxChars: 50,
  departmentNameMaxChars: 64,
  departmentNameForbidden: ['-', ',', '，'],
  maxDepth: null,
  maxDepartments: null,
  maxDepartmentsPerUser: 100,
};
