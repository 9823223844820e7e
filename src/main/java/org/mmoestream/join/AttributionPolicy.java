package org.mmoestream.join;

import java.io.Serializable;
import java.util.function.Consumer;
import org.mmoestream.event.Event;
import org.mmoestream.event.LabeledExample;
import org.mmoestream.event.LabeledExample.Kind;

/**
 * Post-click attribution in event time (DESIGN.md, Labels), as pure code over a {@link JoinState}.
 *
 * <ul>
 *   <li>click = 1 if a click comes within {@code clickWindow} after the impression;
 *   <li>conversion = 1 if a conversion comes within {@code conversionWindow} after that click;
 *   <li>the example is final, and emitted, at once on an attributed conversion; at impression +
 *       click window when no click came; at click + conversion window when no conversion came;
 *   <li>a click or conversion before its impression waits {@code orphanWait} (event time) and is
 *       then counted as an orphan;
 *   <li>after emission the request id is remembered for {@code dedupRetention} so that duplicates
 *       and late events are counted, not joined again.
 * </ul>
 *
 * <p>With an early {@link Feedback} mode the impression is emitted when its observation window
 * closes (the watermark passes impression + {@code observationWindow}, also when that is 0: in
 * arrival order an impression read ahead of the clicks of its time would otherwise be sent as a
 * negative before them, and a backlog read that way trains runs of fake negatives) with the
 * click and conversion that came within it ({@link Kind#OBSERVED}; with {@code defer}, when it has
 * a positive, that again at once, {@link Kind#REPEAT}), then once more for a click ({@link
 * Kind#CLICK}) and for a conversion ({@link Kind#CONVERSION}) that come later within their
 * windows; when the windows close nothing more is emitted (but with {@code defer} a real negative,
 * with {@code es-dfm} the delay heads' closing labels). {@code fnw-matched} sends, instead of the
 * observed example, a fake negative of the click's tasks when the watermark passes the impression
 * ({@link Kind#CLICK_NEGATIVE}) and one of the conversion's at a delay drawn, as the impression
 * comes, from {@link RecentDelays} ({@link Kind#CONVERSION_NEGATIVE}), and keeps the state until
 * both have gone. Each kind is emitted at most once per
 * request id (the state records what was sent), the features stay in state until the windows
 * close, and a conversion without a click is always dropped and counted.
 *
 * <p>Every state has exactly one deadline (the event time of its timer); a deadline of {@link
 * JoinState#NONE} after a call means the state is to be cleared, so no state outlives its timer.
 */
public final class AttributionPolicy implements Serializable {
    private static final long serialVersionUID = 1L;

    private final long clickWindow;
    private final long conversionWindow;
    private final long orphanWait;
    private final long dedupRetention;
    private final boolean dropConversionsWithoutClick;
    private final Feedback feedback;
    private final long observationWindow;
    /** In {@link JoinState#emitted}: the windows have closed (fnw-matched may still owe fake negatives). */
    private static final int WINDOWS_CLOSED = 1 << 30;

    /** {@code fnw-matched}: the delays it draws its fake negatives from (this subtask's). */
    private RecentDelays recentDelays = new RecentDelays();

    /** The policy of {@code join.feedback: wait}. */
    public AttributionPolicy(
            long clickWindow,
            long conversionWindow,
            long orphanWait,
            long dedupRetention,
            boolean dropConversionsWithoutClick) {
        this(clickWindow, conversionWindow, orphanWait, dedupRetention, dropConversionsWithoutClick, Feedback.WAIT, 0);
    }

    /** {@code observationWindow} is used by the early modes only and must be below the click window. */
    public AttributionPolicy(
            long clickWindow,
            long conversionWindow,
            long orphanWait,
            long dedupRetention,
            boolean dropConversionsWithoutClick,
            Feedback feedback,
            long observationWindow) {
        if (feedback.early() && (observationWindow < 0 || observationWindow >= clickWindow)) {
            throw new IllegalArgumentException("the observation window (" + observationWindow
                    + " ms) must be at least 0 and below the click window (" + clickWindow + " ms)");
        }
        this.feedback = feedback;
        this.observationWindow = observationWindow;
        this.clickWindow = clickWindow;
        this.conversionWindow = conversionWindow;
        this.orphanWait = orphanWait;
        this.dedupRetention = dedupRetention;
        this.dropConversionsWithoutClick = dropConversionsWithoutClick;
    }

    /**
     * Makes {@code fnw-matched}'s sample of conversion delays keep the last {@code size} ({@link
     * RecentDelays#RecentDelays(int)}); before the sample is started or used.
     */
    public void conversionDelaySample(int size) {
        if (recentDelays.toArray().length > 0) {
            throw new IllegalStateException("the sample of conversion delays is sized before it is started");
        }
        recentDelays = new RecentDelays(size);
    }

    /**
     * Starts {@code fnw-matched}'s sample of conversion delays as an exponential prior of mean {@code
     * mean}, truncated at the click and conversion windows ({@link RecentDelays#prior}).
     */
    public void conversionDelayPrior(long mean) {
        recentDelays.prior(mean, clickWindow + conversionWindow);
    }

    /** The delays {@code fnw-matched} draws from: the caller checkpoints and restores them. */
    public RecentDelays recentDelays() {
        return recentDelays;
    }

    /** Folds {@code e} into {@code s} and passes what it makes due to {@code out}. */
    public void onEvent(JoinState s, Event e, JoinListener l, Consumer<LabeledExample> out) {
        if (s.firstSeen == JoinState.NONE) {
            s.firstSeen = e.ts;
        }
        boolean seen = switch (e.type) {
            case Event.IMPRESSION -> s.impressionTs != JoinState.NONE;
            case Event.CLICK -> s.clickTs != JoinState.NONE;
            default -> s.conversionTs != JoinState.NONE;
        };
        if (seen) {
            l.duplicate(e);
            return;
        }
        if (s.done || (s.emitted & WINDOWS_CLOSED) != 0) {
            // fnw-matched keeps a state whose windows have closed until its fake negatives have gone:
            // an event then is as late as one after a final example.
            l.afterFinal(e);
            return;
        }
        switch (e.type) {
            case Event.IMPRESSION -> {
                s.impressionTs = e.ts;
                s.model = e.model;
                s.features = e.features;
                if (feedback == Feedback.FNW_MATCHED) {
                    s.conversionNegativeAt =
                            e.ts + recentDelays.draw(mix(e.ts ^ (e.features == null ? 0 : e.features.hashCode())));
                }
            }
            case Event.CLICK -> {
                s.clickTs = e.ts;
                s.clickId = e.clickId;
            }
            default -> {
                s.conversionTs = e.ts;
                s.conversionValue = e.value;
            }
        }
        if (feedback.early()) {
            // The watermark is not known here: what is due waits for a timer at its event time.
            early(s, Long.MIN_VALUE, out);
        } else {
            LabeledExample ex = evaluate(s);
            if (ex != null) {
                out.accept(ex);
            }
        }
    }

    private LabeledExample evaluate(JoinState s) {
        if (s.impressionTs == JoinState.NONE) {
            s.deadline = s.firstSeen + orphanWait;
            return null;
        }
        if (clicked(s)) {
            if (converted(s)) {
                return finish(s, 1, 1, s.conversionTs);
            }
            s.deadline = s.clickTs + conversionWindow;
        } else {
            s.deadline = s.impressionTs + clickWindow;
        }
        return null;
    }

    private boolean clicked(JoinState s) {
        return s.clickTs != JoinState.NONE && s.clickTs >= s.impressionTs && s.clickTs - s.impressionTs <= clickWindow;
    }

    private boolean converted(JoinState s) {
        return s.conversionTs != JoinState.NONE
                && s.conversionTs >= s.clickTs
                && s.conversionTs - s.clickTs <= conversionWindow;
    }

    /** The timer of {@code s} fired at event time {@code time}; passes what is due to {@code out}. */
    public void onTimer(JoinState s, long time, JoinListener l, Consumer<LabeledExample> out) {
        if (s.done) {
            s.deadline = JoinState.NONE;
            return;
        }
        if (s.impressionTs == JoinState.NONE) {
            l.orphan(s);
            s.deadline = JoinState.NONE;
            return;
        }
        if (feedback.early()) {
            early(s, time, out);
            if (s.done || time < windowEnd(s)) {
                return;
            }
            if ((s.emitted & WINDOWS_CLOSED) == 0) {
                countOutsideWindows(s, l);
                // The windows closed without a conversion: defer sends the impression again as a real
                // negative, es-dfm the final labels of its delay heads.
                Kind closing =
                        feedback == Feedback.DEFER ? Kind.NEGATIVE : feedback == Feedback.ES_DFM ? Kind.CLOSED : null;
                if (closing != null && !sent(s, Kind.CONVERSION) && !sent(s, closing)) {
                    out.accept(example(s, closing, clicked(s) ? 1 : 0, 0));
                    mark(s, closing);
                }
                s.emitted |= WINDOWS_CLOSED;
            }
            if (time < pendingNegatives(s)) {
                return; // fnw-matched: its fake negatives still to go; nothing else joins meanwhile
            }
            close(s, time);
            return;
        }
        LabeledExample ex = finalOnTimer(s, time, l);
        if (ex != null) {
            out.accept(ex);
        }
    }

    private LabeledExample finalOnTimer(JoinState s, long time, JoinListener l) {
        if (clicked(s)) {
            if (s.conversionTs != JoinState.NONE) {
                l.outsideWindow(Event.Kind.CONVERSION);
            }
            return finish(s, 1, 0, time);
        }
        if (s.clickTs != JoinState.NONE) {
            l.outsideWindow(Event.Kind.CLICK);
        }
        if (s.conversionTs != JoinState.NONE) {
            l.conversionWithoutClick();
            if (!dropConversionsWithoutClick) {
                return finish(s, 0, 1, time);
            }
        }
        return finish(s, 0, 0, time);
    }

    /** When the impression's windows close: its click's conversion window, else its click window. */
    private long windowEnd(JoinState s) {
        return clicked(s) ? s.clickTs + conversionWindow : s.impressionTs + clickWindow;
    }

    /**
     * The early modes after an event ({@code watermark} unknown: {@link Long#MIN_VALUE}) or a timer
     * (the watermark has passed {@code watermark}): the observed example once its window has closed,
     * then a click and a conversion not sent yet, each once, when the watermark has passed its event
     * time. So every emission leaves the join in the event-time order of what caused it, whatever
     * order the topics are read in: a job catching up a backlog may read the small clicks and
     * conversions topics hours (event time) ahead of the impressions, and positives sent on arrival
     * would then train hours before the negatives of their time (measured: defer's conversion head
     * over-predicted by 46% at 1,000,000 impressions a day replayed 720 times faster than real time).
     * The state closes when the conversion is sent; else its deadline is the next event time due,
     * at the latest the end of the windows.
     */
    private void early(JoinState s, long watermark, Consumer<LabeledExample> out) {
        if (s.impressionTs == JoinState.NONE) {
            s.deadline = s.firstSeen + orphanWait;
            return;
        }
        long observeEnd = s.impressionTs + observationWindow;
        // What is due next: the end of the windows (once passed, the caller closes the state), and
        // any emission still to come.
        long due = windowEnd(s) > watermark ? windowEnd(s) : Long.MAX_VALUE;
        if (feedback == Feedback.FNW_MATCHED) {
            due = Math.min(due, matchedNegatives(s, watermark, out));
        } else if (!sent(s, Kind.OBSERVED)) {
            if (watermark < observeEnd) {
                s.deadline = observeEnd;
                return;
            }
            // At a window of 0 nothing is within it, not even an event at the impression's own
            // millisecond: fnw's and defer's weights assume every positive was first sent as a negative.
            boolean click = clicked(s) && observationWindow > 0 && s.clickTs <= observeEnd;
            boolean conversion = click && converted(s) && s.conversionTs <= observeEnd;
            out.accept(example(s, Kind.OBSERVED, click ? 1 : 0, conversion ? 1 : 0));
            mark(s, Kind.OBSERVED);
            if (feedback == Feedback.DEFER && click) {
                // DEFER trains every impression twice per event: a positive within the window at once again.
                out.accept(example(s, Kind.REPEAT, 1, conversion ? 1 : 0));
                mark(s, Kind.REPEAT);
            }
            if (click) {
                mark(s, Kind.CLICK);
            }
            if (conversion) {
                mark(s, Kind.CONVERSION);
            }
        }
        if (clicked(s) && !sent(s, Kind.CLICK)) {
            if (s.clickTs <= watermark) {
                out.accept(example(s, Kind.CLICK, 1, 0));
                mark(s, Kind.CLICK);
            } else {
                due = Math.min(due, s.clickTs);
            }
        }
        if (clicked(s) && converted(s) && !sent(s, Kind.CONVERSION)) {
            if (s.conversionTs <= watermark) {
                out.accept(example(s, Kind.CONVERSION, 1, 1));
                mark(s, Kind.CONVERSION);
                if (feedback == Feedback.FNW_MATCHED) {
                    // Recorded as sent, in event-time order, whatever order the topics are read in:
                    // a conversion read ahead of its impression counts too.
                    recentDelays.add(s.conversionTs - s.impressionTs, s.conversionTs);
                }
            } else {
                due = Math.min(due, s.conversionTs);
            }
        }
        if (sent(s, Kind.CONVERSION) && pendingNegatives(s) == JoinState.NONE) {
            close(s, Math.max(s.conversionTs, s.conversionNegativeAt));
        } else {
            s.deadline = due;
        }
    }

    /**
     * {@code fnw-matched}: sends the fake negatives of {@code s} whose time the watermark has passed;
     * returns the earliest time of those still due, or {@link Long#MAX_VALUE}.
     */
    private long matchedNegatives(JoinState s, long watermark, Consumer<LabeledExample> out) {
        long due = Long.MAX_VALUE;
        if (!sent(s, Kind.CLICK_NEGATIVE)) {
            if (s.impressionTs <= watermark) {
                out.accept(example(s, Kind.CLICK_NEGATIVE, 0, 0));
                mark(s, Kind.CLICK_NEGATIVE);
            } else {
                due = s.impressionTs;
            }
        }
        if (!sent(s, Kind.CONVERSION_NEGATIVE)) {
            if (s.conversionNegativeAt <= watermark) {
                out.accept(example(s, Kind.CONVERSION_NEGATIVE, 0, 0));
                mark(s, Kind.CONVERSION_NEGATIVE);
            } else {
                due = Math.min(due, s.conversionNegativeAt);
            }
        }
        return due;
    }

    /** {@code fnw-matched}: the latest time of the fake negatives not sent yet; else {@link JoinState#NONE}. */
    private long pendingNegatives(JoinState s) {
        if (feedback != Feedback.FNW_MATCHED) {
            return JoinState.NONE;
        }
        long t = JoinState.NONE;
        if (!sent(s, Kind.CLICK_NEGATIVE)) {
            t = s.impressionTs;
        }
        if (!sent(s, Kind.CONVERSION_NEGATIVE)) {
            t = Math.max(t, s.conversionNegativeAt);
        }
        return t;
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    private void countOutsideWindows(JoinState s, JoinListener l) {
        if (clicked(s)) {
            if (s.conversionTs != JoinState.NONE) {
                l.outsideWindow(Event.Kind.CONVERSION);
            }
            return;
        }
        if (s.clickTs != JoinState.NONE) {
            l.outsideWindow(Event.Kind.CLICK);
        }
        if (s.conversionTs != JoinState.NONE) {
            l.conversionWithoutClick();
        }
    }

    private static boolean sent(JoinState s, Kind k) {
        return (s.emitted & (1 << k.ordinal())) != 0;
    }

    private static void mark(JoinState s, Kind k) {
        s.emitted |= 1 << k.ordinal();
    }

    /** The example of {@code s} with these labels; its request id is set by the caller, which knows the key. */
    private static LabeledExample example(JoinState s, Kind kind, int click, int conversion) {
        LabeledExample ex = new LabeledExample();
        ex.kind = kind;
        ex.model = s.model;
        ex.features = s.features;
        ex.click = click;
        ex.conversion = conversion;
        ex.impressionTs = s.impressionTs;
        ex.clickTs = click == 1 ? s.clickTs : LabeledExample.NONE;
        ex.conversionTs = conversion == 1 ? s.conversionTs : LabeledExample.NONE;
        ex.conversionValue = conversion == 1 ? s.conversionValue : Double.NaN;
        return ex;
    }

    /** The labels are final: drops the features and keeps the rest for the dedup retention. */
    private void close(JoinState s, long at) {
        s.done = true;
        s.model = null;
        s.features = null;
        s.clickId = null;
        s.deadline = dedupRetention > 0 ? at + dedupRetention : JoinState.NONE;
    }

    private LabeledExample finish(JoinState s, int click, int conversion, long at) {
        LabeledExample ex = example(s, Kind.FINAL, click, conversion);
        close(s, at);
        return ex;
    }
}
