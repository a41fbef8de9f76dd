import { createRequire } from 'node:module';
import type { Prediction } from './types.ts';

/**
 * The bundled `sentiment` model is VADER, a rule + lexicon scorer (Hutto & Gilbert 2014), not a
 * neural network. Its `compound` score c ∈ [-1, 1] is mapped to three scores that sum to 1:
 * the side of c (positive or negative) gets |c|^k and neutral gets 1 - |c|^k, with
 * k = ln 0.5 / ln 0.05 so that the top label flips exactly at VADER's published thresholds
 * (c ≥ 0.05 positive, c ≤ -0.05 negative, otherwise neutral).
 */
export const VADER_EXPONENT = Math.log(0.5) / Math.log(0.05);

export interface VaderScores {
  neg: number;
  neu: number;
  pos: number;
  compound: number;
}

export function compoundToPredictions(compound: number): Prediction[] {
  const side = Math.pow(Math.min(1, Math.abs(compound)), VADER_EXPONENT);
  const pos = compound > 0 ? side : 0;
  const neg = compound < 0 ? side : 0;
  const preds: Prediction[] = [
    { label: 'negative', score: neg },
    { label: 'neutral', score: 1 - side },
    { label: 'positive', score: pos },
  ];
  return preds.sort((a, b) => b.score - a.score);
}

type Analyzer = { polarity_scores(text: string): VaderScores };
let analyzer: Analyzer | undefined;

function load(): Analyzer {
  if (!analyzer) {
    const require = createRequire(import.meta.url);
    const mod = require('vader-sentiment') as { SentimentIntensityAnalyzer: Analyzer };
    analyzer = mod.SentimentIntensityAnalyzer;
  }
  return analyzer;
}

export function vaderScores(text: string): VaderScores {
  return load().polarity_scores(text);
}

export function classifySentiment(text: string): Prediction[] {
  return compoundToPredictions(vaderScores(text).compound);
}
