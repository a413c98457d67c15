/**
 * A small Prometheus registry: counters and gauges with labels, rendered in
 * the text exposition format (version 0.0.4). Modules register their own.
 */
type Labels = Record<string, string>;

interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge";
  values: Map<string, { labels: Labels; value: number }>;
  collect?: () => Array<{ labels: Labels; value: number }>;
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(",");
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

export class Counter {
  constructor(private readonly f: Family) {}
  inc(labels: Labels = {}, by = 1): void {
    this.cell(labels).value += by;
  }
  /** The series for these labels, to count on a hot path without building its key each time. */
  cell(labels: Labels): { value: number } {
    const k = labelKey(labels);
    let cur = this.f.values.get(k);
    if (!cur) this.f.values.set(k, (cur = { labels, value: 0 }));
    return cur;
  }
  get(labels: Labels = {}): number {
    return this.f.values.get(labelKey(labels))?.value ?? 0;
  }
}

export class Gauge {
  constructor(private readonly f: Family) {}
  set(value: number, labels: Labels = {}): void {
    this.f.values.set(labelKey(labels), { labels, value });
  }
  delete(labels: Labels): void {
    this.f.values.delete(labelKey(labels));
  }
}

export class Metrics {
  private readonly families = new Map<string, Family>();

  private family(name: string, help: string, type: Family["type"]): Family {
    if (!NAME_RE.test(name)) throw new Error(`bad metric name ${name}`);
    const existing = this.families.get(name);
    if (existing) {
      if (existing.type !== type) throw new Error(`metric ${name} registered as ${existing.type}`);
      return existing;
    }
    const f: Family = { name, help, type, values: new Map() };
    this.families.set(name, f);
    return f;
  }

  counter(name: string, help: string): Counter {
    return new Counter(this.family(name, help, "counter"));
  }

  gauge(name: string, help: string): Gauge {
    return new Gauge(this.family(name, help, "gauge"));
  }

  /** A gauge read at scrape time. */
  collect(name: string, help: string, fn: () => Array<{ labels: Labels; value: number }>): void {
    this.family(name, help, "gauge").collect = fn;
  }

  render(): string {
    const out: string[] = [];
    for (const f of this.families.values()) {
      out.push(`# HELP ${f.name} ${f.help.replace(/\n/g, " ")}`, `# TYPE ${f.name} ${f.type}`);
      const samples = f.collect ? f.collect() : [...f.values.values()];
      for (const s of samples) {
        const keys = Object.keys(s.labels);
        const labels = keys.length ? `{${keys.map((k) => `${k}="${escapeLabel(s.labels[k]!)}"`).join(",")}}` : "";
        out.push(`${f.name}${labels} ${Number.isFinite(s.value) ? s.value : "NaN"}`);
      }
    }
    return out.join("\n") + "\n";
  }
}
