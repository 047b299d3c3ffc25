package io.tandem.config;

import java.util.List;

/** A config that cannot be used; {@link #errors()} names each field and what is wrong. */
public final class ConfigException extends Exception {
    private final List<String> errors;

    public ConfigException(String source, List<String> errors) {
        super("invalid config " + source + ":\n  " + String.join("\n  ", errors));
        this.errors = List.copyOf(errors);
    }

    public List<String> errors() {
        return errors;
    }
}
