import type { SqliteDatabase } from '../../storage/sqlite';

/**
 * The connector emulator's conversations in the embedded store, so a restart of the stack keeps every
 * transcript (and the web chat shows the same conversation after it), and the emulator keeps its team, app
 * secret and port, which the bot has stored in its conversation references.
 */
const SCHEMA = `CREATE TABLE IF NOT EXISTS teams_emulator (kind TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (kind, id))`;

export interface SavedSettings {
  port: number;
  team: { id: string; name: string };
  appSecret: string;
}

export interface SavedConversation<A> {
  id: string;
  type: 'personal' | 'channel';
  userId?: string;
  activities: A[];
}

export class TeamsEmulatorState<A extends { conversationId: string; id: string; seq: number }> {
  private constructor(private readonly db: SqliteDatabase) {}

  static open<A extends { conversationId: string; id: string; seq: number }>(db: SqliteDatabase): TeamsEmulatorState<A> {
    db.ensureSchema(SCHEMA);
    return new TeamsEmulatorState<A>(db);
  }

  settings(): SavedSettings | undefined {
    const r = this.db.get<{ json: string }>("SELECT json FROM teams_emulator WHERE kind = 'settings' AND id = ''");
    return r ? (JSON.parse(r.json) as SavedSettings) : undefined;
  }

  saveSettings(s: SavedSettings): Promise<void> {
    return this.put('settings', '', s);
  }

  /** Every conversation with its activities in the order they were sent. */
  conversations(): Array<SavedConversation<A>> {
    const convs = new Map<string, SavedConversation<A>>();
    for (const r of this.db.all<{ json: string }>("SELECT json FROM teams_emulator WHERE kind = 'conversation'")) {
      const c = JSON.parse(r.json) as Omit<SavedConversation<A>, 'activities'>;
      convs.set(c.id, { ...c, activities: [] });
    }
    for (const r of this.db.all<{ json: string }>("SELECT json FROM teams_emulator WHERE kind = 'activity'")) {
      const a = JSON.parse(r.json) as A;
      convs.get(a.conversationId)?.activities.push(a);
    }
    for (const c of convs.values()) c.activities.sort((x, y) => x.seq - y.seq);
    return [...convs.values()];
  }

  saveConversation(c: Omit<SavedConversation<A>, 'activities'>): Promise<void> {
    return this.put('conversation', c.id, { id: c.id, type: c.type, userId: c.userId });
  }

  /** The activity as it is when the write runs (so a burst of updates stores the last). */
  saveActivity(a: A): Promise<void> {
    return this.db.write(() => {
      this.db.prepare("INSERT OR REPLACE INTO teams_emulator (kind, id, json) VALUES ('activity', ?, ?)").run(`${a.conversationId}|${a.id}`, JSON.stringify(a));
    });
  }

  private put(kind: string, id: string, value: unknown): Promise<void> {
    return this.db.write(() => {
      this.db.prepare('INSERT OR REPLACE INTO teams_emulator (kind, id, json) VALUES (?, ?, ?)').run(kind, id, JSON.stringify(value));
    });
  }
}
