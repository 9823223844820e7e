package org.mmoestream.config;

/**
 * Bad user input (a spec, a config key, a flag, a data row). The message is one sentence that names
 * the file and the key, or the file, row and column; the command line prints it and exits with 2.
 */
public final class InputException extends RuntimeException {
    public InputException(String message) {
        super(message);
    }
}
