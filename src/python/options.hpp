// Keyword arguments from Python, checked the way the command line checks its options.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "cscrub/error.hpp"

namespace cscrub::python {

// A str, or cscrub.Error naming the argument.
inline std::string text_option(const pybind11::handle& value, const char* name) {
  if (!pybind11::isinstance<pybind11::str>(value)) throw Error(std::string(name) + ": give a string");
  return value.cast<std::string>();
}

// An int or float (not a bool), or cscrub.Error naming the argument.
template <class Number>
Number number_option(const pybind11::handle& value, const char* name) {
  namespace py = pybind11;
  if (py::isinstance<py::bool_>(value) || !(py::isinstance<py::int_>(value) || py::isinstance<py::float_>(value)))
    throw Error(std::string(name) + ": give a number, not " + std::string(py::repr(value)));
  return value.cast<Number>();
}

// seed=: a whole number from 0.
uint64_t seed_option(const pybind11::handle& value);

// The products' kernel when nothing names one: $CSCRUB_MATMUL, else "auto" (as for the command).
std::string default_matmul();

// Applies model= (a path, or a Model, whose kernel then becomes the default) or matmul= to `model` and
// `matmul`; false for any other keyword.
bool model_keyword(const std::string& key, const pybind11::handle& value, std::string& model, std::string& matmul);

}  // namespace cscrub::python
