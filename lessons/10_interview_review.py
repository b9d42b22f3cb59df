# %% [markdown]
# # 10 · Interview review (面试复习): a mock interview across the course
#
# The course's interview bank holds every lesson's questions, in Chinese and English, each linked to the lesson
# whose code demonstrates the answer. This notebook turns it into practice:
#
# 1. a **mock interview** (模拟面试): questions drawn across topics with a seed, easy to hard;
# 2. **flashcards** (闪卡): answer aloud first, then reveal;
# 3. a scored **multiple-choice** round, where every option explains why it is right or wrong;
# 4. **spot the bug** (找 bug): real snippets from the course's source articles, each with a real bug;
# 5. a **study plan** (复习计划): which lesson to reread for each topic.
#
# Change `SEED` for a different interview, `LANG` to `"zh"` or `"en"`, `MAX_DIFFICULTY` to 1 or 2 to warm up.
# The options of each multiple-choice question are shuffled (seeded), so the answer is not always A or B. Where
# widgets cannot render, the quizzes print as plain text with the answers hidden: `reveal_answers(interview)` shows them.
# In a terminal: `python -m helpers.interview -n 10 --seed 1`.

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from helpers.interview import load_bank, mock_interview, select_questions, study_plan
from helpers.interview.quiz import flashcards, multiple_choice, reveal_answers  # noqa: F401 (plain-text reveal)

SEED, N_QUESTIONS, MAX_DIFFICULTY, LANG = 0, 10, 3, "both"
bank = load_bank()
print(f"{len(bank)} questions, {sum(q.is_multiple_choice for q in bank)} multiple choice, "
      f"{sum('spot-the-bug' in q.tags for q in bank)} spot-the-bug")

# %% [markdown]
# ## 1. The bank at a glance (题库概览)

# %%
overview = pd.DataFrame([{"lesson": q.lesson, "topic": q.topic, "difficulty": q.difficulty} for q in bank])
fig, ax = plt.subplots(figsize=(8, 3.5))
sns.countplot(data=overview, x="lesson", hue="difficulty", palette="Blues", ax=ax)
ax.set(title="Interview questions per lesson", xlabel="lesson", ylabel="questions (count)")
ax.legend(title="difficulty (1 easy, 3 hard)")
plt.show()

# %% [markdown]
# ## 2. Mock interview (模拟面试)
#
# The draw goes round the topics, so no single topic fills the interview, and is sorted from easy to hard, as
# interviews usually run. Try each question aloud, for a minute or two, before revealing the answer.

# %%
interview = mock_interview(bank, n=N_QUESTIONS, seed=SEED, max_difficulty=MAX_DIFFICULTY)
pd.DataFrame([{"id": q.id, "lesson": q.lesson, "topic": q.topic, "difficulty": q.difficulty,
               "question": q.question["en"][:70]} for q in interview])

# %%
_ = flashcards(interview, lang=LANG)

# %% [markdown]
# ## 3. Multiple choice (选择题)
#
# The multiple-choice questions of this interview, topped up from the rest of the bank to eight. Your score is
# counted below the questions.

# %%
chosen = [q for q in interview if q.is_multiple_choice]
extra = [q for q in select_questions(bank, seed=SEED + 1) if q.is_multiple_choice and q not in chosen]
round_questions = (chosen + extra)[:8]
_ = multiple_choice(round_questions, lang=LANG)

# %% [markdown]
# ## 4. Spot the bug (找 bug)
#
# Most snippets come from the source articles this course was built from (the classification code of lesson 02,
# the GPT generation code of lesson 05); one is lesson 09's `Trainer` pitfall. All of them run, more or less; all
# of them are wrong. Lessons 02, 05 and 09 measure what several of these bugs cost.

# %%
bugs = [q for q in bank if "spot-the-bug" in q.tags]
_ = multiple_choice(bugs, lang=LANG)

# %% [markdown]
# ## 5. Study plan (复习计划)
#
# For each topic: the lessons whose code demonstrates the answers, and how many questions of each difficulty the
# bank has. Reread the lesson, rerun its cells, then drill the topic:
# `python -m helpers.interview --topic overfitting`.

# %%
pd.DataFrame(study_plan(bank)).set_index("topic")

# %% [markdown]
# ## Summary (小结)
#
# * Interviews reward precise, short answers backed by something you have run: every answer here points to a
#   lesson where you can rerun the evidence.
# * Drill the weak topics from the study plan, in both languages if you interview in both.
