package org.ddpm4j.data;

/** Data that cannot be used: the message names the file or folder and the problem, in one line. */
public class DataException extends RuntimeException {
    public DataException(String message) {
        super(message);
    }

    public DataException(String message, Throwable cause) {
        super(message, cause);
    }
}
