// cscrub::Error -> cscrub.Error (a ValueError): the one-line message the CLI prints, and its hint as an attribute.
#include <pybind11/pybind11.h>

#include <filesystem>

#include "bindings.hpp"
#include "cscrub/app/one_line.hpp"
#include "cscrub/error.hpp"

namespace py = pybind11;

namespace cscrub::python {

void bind_errors(py::module_& module) {
  // Kept alive for the interpreter's lifetime, as the translator below is.
  static py::handle error_type = py::exception<Error>(module, "Error", PyExc_ValueError).release();
  error_type.attr("__doc__") =
      "A bad input (file, option, hook name, token, hypothesis): the message names the file, line and problem "
      "as the cscrub command prints it; .hint says what to do (empty when there is nothing to add).";
  error_type.attr("hint") = "";
  py::register_exception_translator([](std::exception_ptr thrown) {
    try {
      if (thrown) std::rethrow_exception(thrown);
    } catch (const Error& error) {
      py::object instance = error_type(app::one_line(error.what()));
      instance.attr("hint") = app::one_line(error.hint());
      PyErr_SetObject(error_type.ptr(), instance.ptr());
    } catch (const std::filesystem::filesystem_error& error) {
      // A path the file system refuses (too long, no permission): the user's to fix, as in the CLI.
      const std::string message = app::one_line(error.path1().string()) + ": " + app::one_line(error.code().message());
      PyErr_SetString(PyExc_OSError, message.c_str());
    }
  });
}

}  // namespace cscrub::python
