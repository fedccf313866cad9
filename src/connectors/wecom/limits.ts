import type { PlatformLimits } from '../../directory/limits.js';

/** WeCom's limits on directory data (API reference §3-§4). */
export const WECOM_LIMITS: PlatformLimits = {
  platform: 'wecom',
  userid: {
    pattern: /^[A-Za-z0-9][A-Za-z0-9_\-@.]{0,63}$/,
    maxBytes: 64,
    describe: '1-64 characters: letters, digits and _ - @ . , starting with a letter or digit',
  },
  userNameMaxChars: 64,
  aliasMaxChars: 64,
  positionMaxChars: 128,
  telephoneMaxChars: 32,
  emailMaxBytes: 64,
  addressMaxChars: 128,
  employeeNoMaxChars: 64,
  departmentNameMaxChars: 64,
  // The doc writes the full-width ｜, its error text the ASCII |: both are refused.
  departmentNameForbidden: ['\\', ':', '*', '?', '"', '<', '>', '|', '｜'],
  maxDepth: 15,
  maxDepartments: 30_000,
  maxDepartmentsPerUser: 100,
};
