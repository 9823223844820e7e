package org.mmoestream.model;

import java.util.Locale;

/** The nonlinearity of the experts', gates' and towers' hidden layers ({@code model.activation}). */
public enum Activation {
    /** No nonlinearity (a chain's output layer). */
    NONE,
    RELU,
    TANH,
    SIGMOID;

    /** The activation named {@code s} (relu, tanh, sigmoid), or null. */
    public static Activation parse(String s) {
        for (Activation a : new Activation[] {RELU, TANH, SIGMOID}) {
            if (a.name().toLowerCase(Locale.ROOT).equals(s)) {
                return a;
            }
        }
        return null;
    }
}
