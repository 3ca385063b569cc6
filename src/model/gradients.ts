/**
 * The stock gradients of TensorFlow.js ops (tfjs-core registers none; the
 * `@tensorflow/tfjs` package registers them all, along with layers, converter
 * and data). Only code that takes gradients imports this module (training):
 * decoding needs none, and leaving the package out saves it about half a
 * second of start-up.
 */
import '@tensorflow/tfjs';
