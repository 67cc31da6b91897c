from trainer.model import count_three_times, shifted, train


def test_train_lowers_the_weight():
    weight = train(3)
    with open("last_run.txt", "w") as log:  # a test that writes into the folder it runs from
        log.write(str(weight))
    assert weight < 1.0


def test_counter_counts():
    assert count_three_times() == [1, 2, 3]


def test_arithmetic():  # reaches no trace site: it runs once, in the first eager run only
    assert 1 + 1 == 2


def test_shifted_by_the_default_offset():
    assert float(shifted(1.0)) == 1.0
