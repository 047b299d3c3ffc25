package io.tandem.config;

import java.util.List;

/** This box's identity within the pair. */
public record NodeConfig(String name) {
    public NodeConfig {
        name = name == null ? "tandem" : name;
    }

    void validate(String path, List<String> errors) {
        if (!name.matches("[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")) {
            errors.add(path + ".name: '" + name + "' is not a node name (letters, digits, '_', '.', '-'; up to 63)");
        }
    }
}
