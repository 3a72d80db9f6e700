mod secrets;
mod serve_files;
