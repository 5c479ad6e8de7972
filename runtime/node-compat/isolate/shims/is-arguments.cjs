'use strict';
// is-arguments: an arguments object (by its internal class, as the package does).
const toString = Object.prototype.toString;
module.exports = function isArguments(value) {
  return value !== null && typeof value === 'object' && toString.call(value) === '[object Arguments]';
};
