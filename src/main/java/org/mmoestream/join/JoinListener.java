package org.mmoestream.join;

import org.mmoestream.event.Event;

/** What the policy reports besides examples; the Flink function counts these in metrics. */
public interface JoinListener {
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
