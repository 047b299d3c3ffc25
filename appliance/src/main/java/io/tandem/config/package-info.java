/**
 * The YAML configuration: immutable records with defaults, parsed by Jackson and validated
 * with errors that name the field path and what is wrong
 * ({@code services[0].backends[1].port: 70000 is not a port (1-65535)}).
 */
package io.tandem.config;
