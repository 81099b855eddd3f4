import type { Compilable, CompiledQuery, Kysely } from 'kysely';

/**
 * A query compiled once and run with new parameter values each time. Kysely builds and compiles a query on
 * every call, which costs more than the lookup itself on the busiest paths, such as finding a session.
 *
 * `build` receives stand-in values and returns the query. Each stand-in must appear exactly once among the
 * compiled parameters, because `run` replaces them with the real values in the same order.
 */
export class CompiledTemplate<Row> {
  private readonly compiled: CompiledQuery<Row>;
  private readonly positions: number[];

  constructor(build: (...standIns: string[]) => Compilable<Row>, parameterCount: number) {
    const standIns = Array.from({ length: parameterCount }, (_, index) => `\u0000stand-in-${index}\u0000`);
    this.compiled = build(...standIns).compile();
    this.positions = standIns.map((standIn) => {
      const found = this.compiled.parameters.flatMap((value, position) => (value === standIn ? [position] : []));
      if (found.length !== 1) throw new Error(`stand-in ${standIn.trim()} appears ${found.length} times in: ${this.compiled.sql}`);
      return found[0] ?? -1;
    });
  }

  /** Runs the query on `db` (the database or an open transaction) with `values` in the stand-ins' order. */
  async run(db: Kysely<never> | { executeQuery: Kysely<never>['executeQuery'] }, values: unknown[]): Promise<Row[]> {
    const parameters = [...this.compiled.parameters];
    this.positions.forEach((position, index) => {
      parameters[position] = values[index];
    });
    const result = await db.executeQuery<Row>({ ...this.compiled, parameters });
    return result.rows;
  }
}
