'use strict';
// is-generator-function: a function* (sync generators only, as the package).
const GeneratorFunctionPrototype = Object.getPrototypeOf(function* () {});
const toString = Object.prototype.toString;
module.exports = function isGeneratorFunction(fn) {
  return typeof fn === 'function' && (Object.getPrototypeOf(fn) === GeneratorFunctionPrototype || toString.call(fn) === '[object GeneratorFunction]');
};
