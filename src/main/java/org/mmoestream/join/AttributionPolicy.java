package org.mmoestream.join;

import java.io.Serializable;
import org.mmoestream.event.Event;
import org.mmoestream.event.LabeledExample;

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

  public AttributionPolicy(long clickWindow, long conversionWindow, long orphanWait,
      long dedupRetention, boolean dropConversionsWithoutClick) {
    this.clickWindow = clickWindow;
    this.conversionWindow = conversionWindow;
    this.orphanWait = orphanWait;
    this.dedupRetention = dedupRetention;
    this.dropConversionsWithoutClick = dropConversionsWithoutClick;
  }

  /** Folds {@code e} into {@code s}; returns the example if it became final, else null. */
  public LabeledExample onEvent(JoinState s, Event e, JoinListener l) {
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
      return null;
    }
    if (s.done) {
      l.afterFinal(e);
      return null;
    }
    switch (e.type) {
      case Event.IMPRESSION -> {
        s.impressionTs = e.ts;
        s.model = e.model;
        s.features = e.features;
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
    return evaluate(s);
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
    return s.clickTs != JoinState.NONE && s.clickTs >= s.impressionTs
        && s.clickTs - s.impressionTs <= clickWindow;
  }

  private boolean converted(JoinState s) {
    return s.conversionTs != JoinState.NONE && s.conversionTs >= s.clickTs
        && s.conversionTs - s.clickTs <= conversionWindow;
  }

  /** The timer of {@code s} fired at event time {@code time}; returns the final example or null. */
  public LabeledExample onTimer(JoinState s, long time, JoinListener l) {
    if (s.done) {
      s.deadline = JoinState.NONE;
      return null;
    }
    if (s.impressionTs == JoinState.NONE) {
      l.orphan(s);
      s.deadline = JoinState.NONE;
      return null;
    }
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

  private LabeledExample finish(JoinState s, int click, int conversion, long at) {
    LabeledExample ex = new LabeledExample();
    ex.requestId = null; // set by the caller, which knows the key
    ex.model = s.model;
    ex.features = s.features;
    ex.click = click;
    ex.conversion = conversion;
    ex.impressionTs = s.impressionTs;
    ex.clickTs = click == 1 ? s.clickTs : LabeledExample.NONE;
    ex.conversionTs = conversion == 1 ? s.conversionTs : LabeledExample.NONE;
    ex.conversionValue = conversion == 1 ? s.conversionValue : Double.NaN;
    s.done = true;
    s.model = null;
    s.features = null;
    s.clickId = null;
    s.deadline = dedupRetention > 0 ? at + dedupRetention : JoinState.NONE;
    return ex;
  }
}
