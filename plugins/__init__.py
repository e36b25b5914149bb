"""Built-in plugins. Each is loaded through its ``garage.plugins`` entry point, like third-party ones."""
