// The part of autocannon's programmatic API the bench uses (the package ships no types).
declare module 'autocannon' {
  interface Histogram { average: number; mean: number; min: number; max: number; p50: number; p90: number; p97_5: number; p99: number }
  export interface Result {
    latency: Histogram & { totalCount: number };
    requests: Histogram & { total: number; sent: number };
    non2xx: number;
    errors: number;
    timeouts: number;
    duration: number;
  }
  export interface Options { url: string; duration?: number; connections?: number; method?: string }
  export default function autocannon(options: Options): Promise<Result>;
}
