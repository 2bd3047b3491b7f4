// A client's metrics in the prom-client registry an application already serves: the Node twin
// of Python's `trinity_core.metrics.register`. prom-client has no text parser, so the core reads
// the client's OpenMetrics text into families (`metricsScrape`, bindings/node/src/metrics.rs)
// and this file only reshapes them into the objects prom-client's `Registry` asks its metrics
// for. prom-client is an optional peer dependency, loaded only when no registry is given.

import { metricsScrape } from '../native/index.js';
import { ConfigError, call } from './errors';

/** A sample as prom-client's `Registry.metrics()` / `getMetricsAsJSON()` read it. */
interface PromValue {
  value: number;
  labels: Record<string, string>;
  /**
   * The series' labels, one object for all its samples: the registry formats them once per
   * object (its own histograms do the same), not once per bucket. `get()` merges them into
   * `labels`, as prom-client's histograms do for `getMetricsAsJSON()`.
   */
  sharedLabels?: Record<string, string>;
  /** The sample's own name when it is not the metric's (`_bucket`, `_sum`, `_count`). */
  metricName?: string;
}

/** What a prom-client metric's `get()` resolves to. */
interface PromMetricData {
  name: string;
  help: string;
  type: string;
  aggregator: 'sum';
  values: PromValue[];
}

/** The object registered per family: the fields and methods prom-client's `Registry` uses. */
interface PromMetric {
  name: string;
  help: string;
  type: string;
  aggregator: 'sum';
  get(): Promise<PromMetricData>;
  getForPromString(): Promise<PromMetricData>;
  reset(): void;
}

/** The part of prom-client's `Registry` used here; a prom-client `Registry` is one. */
export interface PromRegistry {
  // `never`: prom-client types the parameter as its own metric classes; what its registry
  // reads of them is `PromMetric`.
  registerMetric(metric: never): void;
  getSingleMetric(name: string): unknown;
  removeSingleMetric(name: string): void;
  getMetricsAsArray(): unknown[];
}

/** What `registerMetrics` returns. */
export interface MetricsRegistration {
  /** Removes the client's metrics from the registry; later scrapes no longer read the client. */
  unregister(): void;
}

/** A family as the core serializes it (`trinity_core::observe::families`). */
interface Family {
  name: string;
  help: string;
  kind: string;
  unit: string;
  series: { labels: Record<string, string>; samples: { name: string; le?: string; value: number | string }[] }[];
}

const SPECIAL: Record<string, number> = { '+Inf': Infinity, '-Inf': -Infinity, NaN: NaN };
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary']);

/** prom-client names a counter with its `_total` (and strips it itself for OpenMetrics output). */
function promName(f: Family): string {
  return f.kind === 'counter' ? `${f.name}_total` : f.name;
}

/** `f` as prom-client's data; each sample's value object (or null) appended to `points`. */
function toProm(f: Family, name: string, points: (PromValue | null)[]): PromMetricData {
  const values: PromValue[] = [];
  for (const series of f.series) {
    for (const s of series.samples) {
      // `_created` has no place in prom-client's counters.
      if (f.kind === 'counter' && s.name !== name) {
        points.push(null);
        continue;
      }
      const value = typeof s.value === 'number' ? s.value : (SPECIAL[s.value] ?? NaN);
      const labels: Record<string, string> = s.le === undefined ? {} : { le: s.le };
      // A counter's sample must not carry `metricName`: an OpenMetrics registry appends
      // `_total` to it. Other samples named like their metric need none either.
      const v: PromValue =
        s.name === name
          ? { value, labels, sharedLabels: series.labels }
          : { value, labels, sharedLabels: series.labels, metricName: s.name };
      values.push(v);
      points.push(v);
    }
  }
  return { name, help: f.help, type: TYPES.has(f.kind) ? f.kind : 'untyped', aggregator: 'sum', values };
}

/** The values with each series' labels merged in, for `getMetricsAsJSON()`. */
function splayed(data: PromMetricData): PromMetricData {
  const values = data.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }));
  return { ...data, values };
}

function promClient(): { register: PromRegistry } {
  try {
    return require('prom-client') as { register: PromRegistry };
  } catch (e) {
    throw new ConfigError('registerMetrics needs prom-client (npm install prom-client), or pass a registry', { dependency: 'prom-client' }, { cause: e });
  }
}

/**
 * One client in one registry. A scrape reads the client once: the first metric asked for
 * reads it, and the others asking in the same turn of the event loop share that reading.
 * The families are kept between scrapes: while the client's text keeps its shape (the same
 * families and label sets), a reading is only the values, written into the same objects.
 */
class Bridge implements MetricsRegistration {
  readonly #client: { metricsText(): string };
  readonly #registry: PromRegistry;
  /** Registered metrics by the name they were registered under. */
  readonly #metrics = new Map<string, PromMetric>();
  #families = new Map<string, PromMetricData>();
  /** Every sample's value object in the core's sample order; null where prom-client has none. */
  #points: (PromValue | null)[] = [];
  #shape: string | undefined;
  #fresh = false;
  #active = true;

  constructor(client: { metricsText(): string }, registry: PromRegistry) {
    this.#client = client;
    this.#registry = registry;
  }

  #read(): Map<string, PromMetricData> {
    if (this.#fresh) return this.#families;
    const read = call(() => metricsScrape(this.#client.metricsText(), this.#shape));
    if (read.families) {
      const families = new Map<string, PromMetricData>();
      const points: (PromValue | null)[] = [];
      for (const f of JSON.parse(read.families) as Family[]) {
        const name = promName(f);
        families.set(name, toProm(f, name, points));
      }
      [this.#families, this.#points] = [families, points];
    } else if (read.values) {
      const { values } = read;
      const points = this.#points;
      for (let i = 0; i < points.length; i++) {
        const p = points[i];
        if (p) p.value = values[i] ?? NaN;
      }
    }
    this.#shape = read.shape;
    this.#fresh = true;
    // prom-client calls every metric's `get()` in one synchronous loop: they all see this one.
    queueMicrotask(() => (this.#fresh = false));
    return this.#families;
  }

  /**
   * Registers the families not registered yet. At `registerMetrics` a clash with a metric of
   * the same name throws; during a scrape it is skipped with a process warning, so one name
   * does not break the application's whole scrape.
   */
  sync(strict: boolean): void {
    if (!this.#active) return;
    for (const [name, data] of this.#read()) {
      if (this.#metrics.has(name)) continue;
      const key = name;
      const bridge = this;
      const metric: PromMetric = {
        name,
        help: data.help,
        type: data.type,
        aggregator: 'sum',
        // `this.name`: an OpenMetrics registry renames a counter object to drop `_total`.
        async getForPromString(this: PromMetric) {
          const now = bridge.#active ? bridge.#read().get(key) : undefined;
          return { ...(now ?? { ...data, values: [] }), name: this.name };
        },
        async get(this: PromMetric) {
          return splayed(await this.getForPromString());
        },
        // The counts are the client's: `registry.resetMetrics()` leaves them as they are.
        reset() {},
      };
      try {
        this.#registry.registerMetric(metric as never);
      } catch (e) {
        if (strict) throw e;
        process.emitWarning(`registerMetrics: ${String(e)}; the client's ${name} is not exported`);
      }
      // Recorded even when refused, so the warning is given once.
      this.#metrics.set(name, metric);
    }
  }

  unregister(): void {
    this.#active = false;
    hooked.get(this.#registry)?.delete(this);
    for (const [name, metric] of this.#metrics) {
      if (this.#registry.getSingleMetric(name) === metric) this.#registry.removeSingleMetric(name);
    }
    this.#metrics.clear();
  }
}

/**
 * The bridges of each registry. prom-client has no collectors: a registry lists the metrics
 * registered by name, and the client grows a family when it first counts something of that
 * kind (a stream, a cache hit). So each registry's `getMetricsAsArray`, which `metrics()`,
 * `getMetricsAsJSON()` and `Registry.merge` start with, first lets its bridges register new
 * families: they appear in the very scrape that first finds them. The wrapper is put on the
 * registry object once and left there (an empty set costs nothing), so it never undoes
 * another wrapper installed after it.
 */
const hooked = new WeakMap<PromRegistry, Set<Bridge>>();

function hook(registry: PromRegistry, bridge: Bridge): void {
  let bridges = hooked.get(registry);
  if (!bridges) {
    const all = (bridges = new Set());
    hooked.set(registry, all);
    const list = registry.getMetricsAsArray;
    registry.getMetricsAsArray = function (this: PromRegistry) {
      for (const b of all) b.sync(false);
      return list.call(this);
    };
  }
  bridges.add(bridge);
}

/**
 * Adds `client`'s metrics to a prom-client `register` (default: prom-client's global
 * `register`). Each scrape reads the client, so the names, help, buckets and values are the
 * engine's own: the OpenTelemetry GenAI metrics and those under `metrics.prefix`. Families the
 * client starts counting later show up from the scrape that first sees them. A `ConfigError`
 * when `metrics.enabled` is false, or when no registry is given and prom-client is not installed;
 * prom-client's own error when one of the client's names is already registered.
 */
export function registerMetrics(client: { metricsText(): string }, register?: PromRegistry): MetricsRegistration {
  const registry = register ?? promClient().register;
  const bridge = new Bridge(client, registry);
  try {
    bridge.sync(true);
  } catch (e) {
    bridge.unregister();
    throw e;
  }
  hook(registry, bridge);
  return bridge;
}
