package org.mmoestream.join;

import org.mmoestream.event.Event;

/** What the policy reports besides examples; the Flink function counts these in metrics. */
public interface JoinListener {
    /** A listener that counts nothing (benchmarks and tools that drive the policy directly). */
    JoinListener IGNORE = new JoinListener() {
        @Override
        public void duplicate(Event e) {}

        @Override
        public void afterFinal(Event e) {}

        @Override
        public void orphan(JoinState s) {}

        @Override
        public void outsideWindow(Event.Kind kind) {}

        @Override
        public void conversionWithoutClick() {}
    };

    /** The same event type arrived again for a request. */
    void duplicate(Event e);

    /** An event arrived for a request whose example was already emitted, and was not part of it. */
    void afterFinal(Event e);

    /** A click or conversion whose impression never came. */
    void orphan(JoinState s);

    /** A click later than the click window, or a conversion outside the conversion window. */
    void outsideWindow(Event.Kind kind);

    /** A conversion on an impression that was not clicked. */
    void conversionWithoutClick();
}
