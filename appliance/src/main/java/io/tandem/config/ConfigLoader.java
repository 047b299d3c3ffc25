package io.tandem.config;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.StreamReadException;
import com.fasterxml.jackson.databind.DatabindException;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.deser.std.StdDeserializer;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import com.fasterxml.jackson.databind.module.SimpleModule;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.tandem.role.Role;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Reads YAML into a {@link TandemConfig} and validates it. Every failure, from a YAML
 * syntax error to a port out of range, becomes a {@link ConfigException} whose lines name
 * the field path; unknown fields are rejected, so a typo is never silently ignored.
 */
public final class ConfigLoader {
    private static final ObjectMapper YAML = configure(YAMLMapper.builder(new YAMLFactory())
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build());

    private ConfigLoader() {
    }

    private static ObjectMapper configure(ObjectMapper mapper) {
        SimpleModule durations = new SimpleModule("tandem-durations");
        durations.addDeserializer(Duration.class, new Durations.Deserializer());
        durations.addDeserializer(Role.class, new RoleDeserializer());
        return mapper.registerModule(durations)
                .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .enable(DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT);
    }

    /** {@code sync.role}: written {@code active} or {@code standby}, as every other enum in the config is written. */
    private static final class RoleDeserializer extends StdDeserializer<Role> {
        RoleDeserializer() {
            super(Role.class);
        }

        @Override
        public Role deserialize(JsonParser parser, DeserializationContext context) throws IOException {
            String text = parser.getValueAsString();
            return switch (text == null ? "" : text) {
                case "active" -> Role.ACTIVE;
                case "standby" -> Role.STANDBY;
                default -> (Role) context.handleWeirdStringValue(Role.class, text, "not one of [active, standby]");
            };
        }
    }

    public static TandemConfig load(Path file) throws ConfigException {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new ConfigException(file.toString(), List.of("cannot read: " + e));
        }
        return parse(text, file.toString());
    }

    public static TandemConfig parse(String yaml, String source) throws ConfigException {
        if (yaml.isBlank()) {
            throw new ConfigException(source, List.of("the config is empty"));
        }
        TandemConfig config;
        try {
            config = YAML.readValue(yaml, TandemConfig.class);
        } catch (DatabindException e) {
            throw new ConfigException(source, List.of(describe(e)));
        } catch (JacksonException e) {
            throw new ConfigException(source, List.of("not valid YAML: " + e.getOriginalMessage()
                    + (e.getLocation() != null ? " (line " + e.getLocation().getLineNr() + ")" : "")));
        }
        if (config == null) {
            throw new ConfigException(source, List.of("the config is empty"));
        }
        List<String> errors = config.validate();
        if (!errors.isEmpty()) {
            throw new ConfigException(source, errors);
        }
        return config;
    }

    /** "services[0].backends[1].port: what is wrong", from Jackson's path and cause. */
    static String describe(DatabindException e) {
        String path = path(e instanceof JsonMappingException m ? m.getPath() : List.of());
        String what;
        if (e instanceof UnrecognizedPropertyException u) {
            path = path.isEmpty() ? u.getPropertyName() : path;
            what = "unknown field '" + u.getPropertyName() + "'" + (u.getKnownPropertyIds() == null ? "" : " (known: "
                    + u.getKnownPropertyIds().stream().map(String::valueOf).sorted().collect(Collectors.joining(", ")) + ")");
        } else if (e instanceof ValueInstantiationException v && v.getCause() != null) {
            what = v.getCause().getMessage();
        } else if (e instanceof InvalidFormatException f) {
            String target = f.getTargetType() == null ? "value" : f.getTargetType().getSimpleName();
            what = target.equals("Duration") ? f.getOriginalMessage() : "'" + f.getValue() + "' is not a valid " + typeName(target);
        } else if (syntaxError(e) != null) {
            StreamReadException syntax = syntaxError(e);
            return "not valid YAML: " + syntax.getOriginalMessage()
                    + (syntax.getLocation() != null ? " (line " + syntax.getLocation().getLineNr() + ")" : "");
        } else {
            what = e.getOriginalMessage().lines().findFirst().orElse("invalid");
        }
        return (path.isEmpty() ? "" : path + ": ") + what;
    }

    private static StreamReadException syntaxError(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof StreamReadException s) {
                return s;
            }
        }
        return null;
    }

    private static String typeName(String javaType) {
        return switch (javaType) {
            case "Integer", "int" -> "number";
            case "Protocol" -> "protocol (tcp, udp)";
            case "Scheduler" -> "scheduler (maglev, wrr)";
            case "HashKey" -> "hash key (five-tuple, client-address)";
            case "Type" -> "type (tcp, http, https)";
            case "OnBackendDown" -> "choice (keep, reset)";
            case "IoEngine" -> "io engine (epoll, io_uring)";
            default -> javaType;
        };
    }

    private static String path(List<JsonMappingException.Reference> references) {
        StringBuilder sb = new StringBuilder();
        for (JsonMappingException.Reference r : references) {
            if (r.getFieldName() != null) {
                if (!sb.isEmpty()) {
                    sb.append('.');
                }
                sb.append(r.getFieldName());
            } else if (r.getIndex() >= 0) {
                sb.append('[').append(r.getIndex()).append(']');
            }
        }
        return sb.toString();
    }
}
