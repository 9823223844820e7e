package org.mmoestream.bench;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.mmoestream.model.Objective;
import org.mmoestream.simulate.DriftingSimulator;
import org.mmoestream.simulate.DriftingSimulator.Impression;

/**
 * An experiment of {@code bench feedback} (docs/fresh-labels-calibration.md): the ideal learner of
 * delayed conversions, the reference for what any mode can reach when conversions come hours after
 * their clicks. It knows everything of the simulator but each item's own conversion propensity (the
 * user's, the price's, the click propensities, the delay distribution, and the prior of the items'
 * propensities), and learns that from the item's clicks and the conversions that have arrived, as
 * Chapelle (KDD 2014) does: a click converted by then counts its probability, a click not converted
 * by then the chance that it would not have been, {@code 1 - p F(elapsed)} with F the conversion
 * delay's distribution within the window. Each impression is scored with the posterior mean, over a
 * grid of the propensity, of what the item knew at the start of its hour. For items that do not
 * drift ({@code -Dmmoe.bench.feedback.drift=0}) it is the ideal learner. For items that drift it
 * forgets, with a memory: each click's evidence weighs {@code exp(-age / memory)} (a discounted
 * likelihood), so it follows the item's propensity as it moves, late by about the memory and the
 * conversions' delay. That is not the ideal learner of a drifting item, only a learner that knows
 * everything but what each item's own propensity is now.
 */
final class DelayedIdeal {
    /** Points of the grid of an item's propensity, from -5 to +5 standard deviations. */
    private static final int GRID = 101;

    private final DriftingSimulator sim;
    private final double sd;
    /** The time constant of the forgetting, event time; {@link Long#MAX_VALUE}: never forgets. */
    private final long memory;

    /** The learner that never forgets, of items whose own propensities are spread by {@code itemCvrSd}. */
    DelayedIdeal(DriftingSimulator sim, double itemCvrSd) {
        this(sim, itemCvrSd, Long.MAX_VALUE);
    }

    /**
     * @param priorSd the spread of the items' own propensities (with drift, over time too), logits
     * @param memory the time constant of the forgetting, milliseconds of event time
     */
    DelayedIdeal(DriftingSimulator sim, double priorSd, long memory) {
        if (!(priorSd > 0)) {
            throw new IllegalArgumentException("the ideal learner needs items whose propensities differ: " + priorSd);
        }
        if (memory <= 0) {
            throw new IllegalArgumentException("the learner's memory must be above 0: " + memory);
        }
        this.sim = sim;
        this.sd = priorSd;
        this.memory = memory;
    }

    /**
     * What an item knows: the log-likelihood of its settled clicks (each weighed by its age when
     * {@code settledAt}) and its clicks still open.
     */
    private static final class Item {
        final double[] settled = new double[GRID];
        long settledAt = Long.MIN_VALUE;
        List<Impression> open = new ArrayList<>();
    }

    /** The weight of evidence {@code age} old. */
    private double weight(long age) {
        return memory == Long.MAX_VALUE ? 1 : Math.exp(-(double) age / memory);
    }

    /**
     * Per impression of {@code imps} (in event-time order) from {@code scoredFrom}, the predicted
     * probability of a conversion within the window after a click; NaN before {@code scoredFrom}.
     */
    double[] predict(Impression[] imps, long scoredFrom) {
        double[] b = new double[GRID];
        double[] prior = new double[GRID];
        for (int g = 0; g < GRID; g++) {
            b[g] = sd * (-5 + 10.0 * g / (GRID - 1));
            prior[g] = -b[g] * b[g] / (2 * sd * sd);
        }
        double windowShare = DriftingSimulator.conversionDelayWithin(FeedbackBench.CONVERSION_WINDOW);
        Map<Integer, Item> items = new HashMap<>();
        double[] out = new double[imps.length];
        // Clicks join their item's evidence once they happen; each hour's impressions are scored with it.
        List<Impression> clicks = new ArrayList<>();
        for (Impression im : imps) {
            if (FeedbackBench.clicked(im)) {
                clicks.add(im);
            }
        }
        clicks.sort((x, y) -> Long.compare(x.clickTs(), y.clickTs()));
        int nextClick = 0;
        long hourStart = Long.MIN_VALUE;
        Map<Integer, double[]> posterior = new HashMap<>();
        double[] logLik = new double[GRID];
        for (int k = 0; k < imps.length; k++) {
            Impression im = imps[k];
            if (im.ts() < scoredFrom) {
                out[k] = Double.NaN;
                continue;
            }
            long hour = scoredFrom + (im.ts() - scoredFrom) / DriftingSimulator.HOUR * DriftingSimulator.HOUR;
            if (hour != hourStart) {
                hourStart = hour;
                posterior.clear();
                while (nextClick < clicks.size() && clicks.get(nextClick).clickTs() < hourStart) {
                    Impression c = clicks.get(nextClick++);
                    items.computeIfAbsent(c.item(), i -> new Item()).open.add(c);
                }
            }
            double[] w = posterior.get(im.item());
            if (w == null) {
                w = weights(items.get(im.item()), hourStart, b, prior, logLik);
                posterior.put(im.item(), w);
            }
            double rest = logit(im.pConversion()) - sim.itemCvrOffset(im.item(), im.ts());
            double p = 0;
            for (int g = 0; g < GRID; g++) {
                p += w[g] * Objective.sigmoid(rest + b[g]);
            }
            out[k] = p * windowShare;
        }
        return out;
    }

    /** The item's posterior weights over the grid at {@code now}; settles the clicks that can no longer change. */
    private double[] weights(Item item, long now, double[] b, double[] prior, double[] logLik) {
        double[] w = new double[GRID];
        System.arraycopy(prior, 0, logLik, 0, GRID);
        if (item != null) {
            if (item.settledAt != Long.MIN_VALUE) {
                double decay = weight(now - item.settledAt);
                for (int g = 0; g < GRID; g++) {
                    item.settled[g] *= decay;
                }
            }
            item.settledAt = now;
            List<Impression> still = new ArrayList<>();
            for (Impression c : item.open) {
                double rest = logit(c.pConversion()) - sim.itemCvrOffset(c.item(), c.ts());
                double weight = weight(now - c.clickTs());
                boolean arrived = FeedbackBench.converted(c) && c.conversionTs() < now;
                long elapsed = Math.min(now - c.clickTs(), FeedbackBench.CONVERSION_WINDOW);
                boolean settled = arrived || elapsed >= FeedbackBench.CONVERSION_WINDOW;
                double share = DriftingSimulator.conversionDelayWithin(elapsed);
                double[] into = settled ? item.settled : logLik;
                for (int g = 0; g < GRID; g++) {
                    double p = Objective.sigmoid(rest + b[g]);
                    into[g] += weight * (arrived ? Math.log(p) : Math.log1p(-p * share));
                }
                if (!settled) {
                    still.add(c);
                }
            }
            item.open = still;
            for (int g = 0; g < GRID; g++) {
                logLik[g] += item.settled[g];
            }
        }
        double max = Double.NEGATIVE_INFINITY;
        for (double v : logLik) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (int g = 0; g < GRID; g++) {
            w[g] = Math.exp(logLik[g] - max);
            sum += w[g];
        }
        for (int g = 0; g < GRID; g++) {
            w[g] /= sum;
        }
        return w;
    }

    private static double logit(double p) {
        return Math.log(p / (1 - p));
    }
}
