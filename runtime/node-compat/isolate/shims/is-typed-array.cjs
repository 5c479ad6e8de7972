'use strict';
// is-typed-array: whether which-typed-array names a class.
const whichTypedArray = require('./which-typed-array.cjs');
module.exports = function isTypedArray(value) {
  return whichTypedArray(value) !== false;
};
