# MonitoringSnapshot, AlertChannel and Alert move from the analytics app to training. Their tables keep the
# names analytics created (analytics_*): this migration only tells Django's state that training owns them;
# analytics 0006 then drops them from the analytics state. Nothing changes in the database.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('analytics', '0001_initial'),  # created the tables
        ('training', '0004_alter_modelversion_kind_aspectannotation'),
    ]

    state_operations = [
        migrations.CreateModel(
            name='AlertChannel',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100)),
                ('kind', models.CharField(choices=[('email', 'Email'), ('webhook', 'Webhook')], max_length=10)),
                ('target', models.CharField(help_text='Email address or webhook URL', max_length=500)),
                ('events', models.JSONField(blank=True, default=list, help_text='Event names to send; empty means all')),
                ('enabled', models.BooleanField(default=True)),
            ],
            options={
                'db_table': 'analytics_alertchannel',
            },
        ),
        migrations.CreateModel(
            name='Alert',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('event', models.CharField(max_length=40)),
                ('subject', models.CharField(max_length=300)),
                ('payload', models.JSONField(default=dict)),
                ('status', models.CharField(default='pending', max_length=20)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('error', models.TextField(blank=True, default='')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('channel', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='alerts', to='training.alertchannel')),
            ],
            options={
                'db_table': 'analytics_alert',
                'ordering': ['-id'],
            },
        ),
        migrations.CreateModel(
            name='MonitoringSnapshot',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('window_days', models.PositiveIntegerField()),
                ('live_accuracy', models.JSONField(default=dict)),
                ('rating_agreement', models.JSONField(default=dict)),
                ('drift', models.JSONField(default=dict)),
                ('alarms', models.JSONField(default=list)),
                ('trigger', models.JSONField(default=dict, help_text='The retraining decision and why')),
                ('model_version', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='training.modelversion')),
            ],
            options={
                'db_table': 'analytics_monitoringsnapshot',
                'ordering': ['-id'],
            },
        ),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=state_operations, database_operations=[]),
    ]
